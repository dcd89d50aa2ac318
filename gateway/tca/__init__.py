"""Transaction cost analysis: implementation shortfall per parent order, its attribution, live and batch.

Importing this package is cheap: ``live`` is pure Python, and the numba kernels, numpy tables, readers and reports
are imported only by the modules that use them (``gateway.tca.analysis``, ``gateway.tca.cli``).
"""

from gateway.tca.live import LiveShortfall

__all__ = ["LiveShortfall"]
