"""A small broker on a real QuickFIX acceptor (data dictionary validation on): acks, fills, cancels, replaces, rejects.

Behaviour follows the order's Account (1):
  FILL     ack, then fill completely at the limit price (market orders at 99.5)
  PARTIAL  ack, then fill 40% at the limit price; the rest stays open
  REST     ack only (tests fill, expire, bust or correct it later through the methods below)
  PENDING  PendingNew before the ack; PendingCancel / PendingReplace before a cancel / replace
  REJECT   reject (150=8) with OrdRejReason 3 and a text
A NewOrderSingle arriving again as PossDup with a ClOrdID already seen is recorded and otherwise ignored, as a broker
must.

It runs in its own process (``python quickfix_broker.py --port N ...``): this QuickFIX build can crash in
``Acceptor.stop`` with a data dictionary loaded, and a separate process also keeps QuickFIX's threads off the test's
GIL. It reports what it sees as JSON lines on stdout and takes commands (fill, expire, bust, ...) as JSON lines on
stdin; ``BrokerClient`` in fix_helpers is the test's side. It exits when stdin closes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quickfix as fix

DATA_DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse(message: fix.Message) -> dict[str, str]:
    return dict(item.split("=", 1) for item in message.toString().split("\x01") if item)


@dataclass
class BrokerOrder:
    cl_ord_id: str
    order_id: str
    account: str
    symbol: str
    side: str
    quantity: int
    price: str
    cumulative: int = 0
    status: str = "0"
    history: list[str] = field(default_factory=list)
    session: Any = None

    @property
    def leaves(self) -> int:
        return 0 if self.status in ("2", "4", "8", "C") else self.quantity - self.cumulative


class QuickFixBroker(fix.Application):
    """The QuickFIX application acting as the broker."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self.session_ids: list[fix.SessionID] = []
        self.orders: dict[str, BrokerOrder] = {}  # by every ClOrdID the order had
        self._exec_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._out_lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event)
        with self._out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    # --- QuickFIX callbacks (its thread) --------------------------------------------------------------------------

    def onCreate(self, session_id: fix.SessionID) -> None:
        self.session_ids.append(session_id)

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.emit({"event": "logon", "session": session_id.toString()})

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.emit({"event": "logout", "session": session_id.toString()})

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self.emit({"event": "admin", "fields": parse(message)})

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        fields = parse(message)
        self.emit({"event": "app", "fields": fields})
        with self.lock:
            kind = fields["35"]
            if kind == "D":
                self._on_new_order(fields, session_id)
            elif kind == "F":
                self._on_cancel(fields, session_id)
            elif kind == "G":
                self._on_replace(fields, session_id)
            elif kind == "H":
                self._on_status(fields, session_id)
            elif kind == "AF":
                self._on_mass_status(fields, session_id)
            else:
                raise fix.UnsupportedMessageType()  # QuickFIX answers with a BusinessMessageReject (35=j)

    # --- behaviour ------------------------------------------------------------------------------------------------

    def _on_new_order(self, fields: dict[str, str], session_id: fix.SessionID) -> None:
        cl_ord_id = fields["11"]
        if cl_ord_id in self.orders:
            if fields.get("43") == "Y":
                self.emit({"event": "duplicate", "cl_ord_id": cl_ord_id})
                return
            self._reject(fields, session_id, f"duplicate ClOrdID {cl_ord_id}", "6")
            return
        account = fields.get("1", "")
        if account == "REJECT":
            self._reject(fields, session_id, "account REJECT may not trade", "3")
            return
        order = BrokerOrder(cl_ord_id, f"B{next(self._order_ids)}", account, fields["55"], fields["54"],
                            int(fields["38"]), fields.get("44", "99.5"))
        order.session = session_id
        self.orders[cl_ord_id] = order
        if account == "PENDING":
            order.status = "A"
            self.send_report(order, "A", session_id)
            order.status = "0"
        self.send_report(order, "0", session_id)
        if account == "FILL":
            self.fill(order.cl_ord_id, order.quantity, order.price, session_id)
        elif account == "PARTIAL":
            self.fill(order.cl_ord_id, order.quantity * 2 // 5, order.price, session_id)

    def _reject(self, fields: dict[str, str], session_id: fix.SessionID, text: str, code: str) -> None:
        order = BrokerOrder(fields["11"], "NONE", fields.get("1", ""), fields["55"], fields["54"],
                            int(fields["38"]), fields.get("44", "0"), status="8")
        self.send_report(order, "8", session_id, extra=[(103, code), (58, text)])

    def _on_cancel(self, fields: dict[str, str], session_id: fix.SessionID) -> None:
        order = self.orders.get(fields["41"])
        if order is None or order.leaves == 0:
            self._cancel_reject(fields, order, "1", session_id)
            return
        if order.account == "PENDING":
            order.status = "6"
            self.send_report(order, "6", session_id, cl_ord_id=fields["11"], orig=fields["41"])
        order.status = "4"
        self.orders[fields["11"]] = order
        order.cl_ord_id = fields["11"]
        self.send_report(order, "4", session_id, cl_ord_id=fields["11"], orig=fields["41"])

    def _on_replace(self, fields: dict[str, str], session_id: fix.SessionID) -> None:
        order = self.orders.get(fields["41"])
        if order is None or order.leaves == 0 or int(fields["38"]) < order.cumulative:
            self._cancel_reject(fields, order, "2", session_id)
            return
        if order.account == "PENDING":
            saved = order.status
            order.status = "E"
            self.send_report(order, "E", session_id, cl_ord_id=fields["11"], orig=fields["41"])
            order.status = saved
        order.quantity = int(fields["38"])
        order.price = fields.get("44", order.price)
        order.cl_ord_id = fields["11"]
        order.status = "1" if order.cumulative else "0"
        self.orders[fields["11"]] = order
        self.send_report(order, "5", session_id, cl_ord_id=fields["11"], orig=fields["41"])

    def _cancel_reject(self, fields: dict[str, str], order: BrokerOrder | None, response_to: str,
                       session_id: fix.SessionID) -> None:
        message = fix.Message()
        message.getHeader().setField(fix.MsgType("9"))
        for tag, value in ((37, order.order_id if order else "NONE"), (11, fields["11"]), (41, fields["41"]),
                           (39, order.status if order else "8"), (434, response_to),
                           (102, "1" if order is None else "0"),
                           (58, "unknown order" if order is None else "order is done")):
            message.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(message, session_id)

    def _on_status(self, fields: dict[str, str], session_id: fix.SessionID) -> None:
        order = self.orders.get(fields["11"])
        if order is None:
            return
        self.send_report(order, "I", session_id, extra=[(790, fields.get("790", ""))])

    def _on_mass_status(self, fields: dict[str, str], session_id: fix.SessionID) -> None:
        distinct = list({id(order): order for order in self.orders.values()}.values())
        for index, order in enumerate(distinct):
            self.send_report(order, "I", session_id, extra=[(584, fields["584"]), (911, str(len(distinct))),
                                                             (912, "Y" if index == len(distinct) - 1 else "N")])

    # --- actions the tests call (any thread) ----------------------------------------------------------------------

    def send_report(
        self,
        order: BrokerOrder,
        exec_type: str,
        session_id: fix.SessionID | None = None,
        last_qty: int = 0,
        last_px: str = "0",
        cl_ord_id: str | None = None,
        orig: str | None = None,
        extra: list[tuple[int, str]] | None = None,
        leave_out: tuple[int, ...] = (),
    ) -> str:
        exec_id = f"X{next(self._exec_ids)}"
        message = fix.Message()
        message.getHeader().setField(fix.MsgType("8"))
        pairs = [(37, order.order_id), (11, cl_ord_id or order.cl_ord_id), (17, exec_id), (150, exec_type),
                 (39, order.status), (1, order.account), (55, order.symbol), (54, order.side),
                 (38, str(order.quantity)), (44, order.price), (32, str(last_qty)), (31, last_px),
                 (151, str(order.leaves)), (14, str(order.cumulative)), (6, last_px if order.cumulative else "0")]
        if orig:
            pairs.append((41, orig))
        pairs += extra or []
        for tag, value in pairs:
            if tag in leave_out or value == "":
                continue
            message.setField(fix.StringField(tag, value))
        if 60 not in leave_out:
            message.setField(fix.TransactTime())
        order.history.append(exec_id)
        target = session_id if session_id is not None else order.session
        fix.Session.sendToTarget(message, target if target is not None else self.session_ids[0])
        return exec_id

    def fill(self, cl_ord_id: str, quantity: int, price: str, session_id: fix.SessionID | None = None) -> str:
        with self.lock:
            order = self.orders[cl_ord_id]
            order.cumulative += quantity
            order.status = "2" if order.cumulative == order.quantity else "1"
            return self.send_report(order, "F", session_id, last_qty=quantity, last_px=price)

    def cmd_fill(self, cl_ord_id: str, quantity: int, price: str) -> str:
        return self.fill(cl_ord_id, quantity, price)

    def cmd_expire(self, cl_ord_id: str) -> str:
        with self.lock:
            order = self.orders[cl_ord_id]
            order.status = "C"
            return self.send_report(order, "C")

    def cmd_bust(self, cl_ord_id: str, exec_id: str, quantity: int) -> str:
        with self.lock:
            order = self.orders[cl_ord_id]
            order.cumulative -= quantity
            order.status = "1" if order.cumulative else "0"
            return self.send_report(order, "H", extra=[(19, exec_id)])

    def cmd_correct(self, cl_ord_id: str, exec_id: str, old_quantity: int, quantity: int, price: str) -> str:
        with self.lock:
            order = self.orders[cl_ord_id]
            order.cumulative += quantity - old_quantity
            order.status = "2" if order.cumulative == order.quantity else "1"
            return self.send_report(order, "G", last_qty=quantity, last_px=price, extra=[(19, exec_id)])

    def cmd_report(self, cl_ord_id: str, exec_type: str, leave_out: list[int],
                   extra: list[tuple[int, str]] | None = None) -> str:
        """An execution report about an existing order, leaving tags out (QuickFIX does not check what it sends)."""
        with self.lock:
            return self.send_report(self.orders[cl_ord_id], exec_type, leave_out=tuple(leave_out),
                                    extra=[(int(tag), value) for tag, value in extra or []])

    def cmd_send_admin(self, msg_type: str, pairs: list[tuple[int, str]], ours: str = "UNWIND") -> None:
        message = fix.Message()
        message.getHeader().setField(fix.MsgType(msg_type))
        for tag, value in pairs:
            message.setField(fix.StringField(int(tag), value))
        fix.Session.sendToTarget(message, self._session_for(ours))

    def cmd_seqnums(self, ours: str = "UNWIND") -> dict[str, int]:
        session = fix.Session.lookupSession(self._session_for(ours))
        return {"next_sender": session.getExpectedSenderNum(), "next_target": session.getExpectedTargetNum()}

    def _session_for(self, ours: str) -> fix.SessionID:
        for session_id in self.session_ids:
            if session_id.getTargetCompID().getValue() == ours:
                return session_id
        raise KeyError(f"no session with {ours}")


def start_acceptor(
    broker: QuickFixBroker, port: int, directory: Path, sessions: list[tuple[str, str]]
) -> fix.SocketAcceptor:
    """Run a QuickFIX SocketAcceptor on 127.0.0.1:``port`` for (our CompID, its CompID) pairs, dictionary on."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "[DEFAULT]",
        "ConnectionType=acceptor",
        f"SocketAcceptPort={port}",
        "SocketAcceptHost=127.0.0.1",
        "SocketReuseAddress=Y",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        f"DataDictionary={DATA_DICTIONARY}",
        "ValidateFieldsOutOfOrder=Y",
        "ValidateFieldsHaveValues=Y",
        "ValidateUserDefinedFields=Y",
        "CheckLatency=Y",
        "MaxLatency=120",
        "ResetOnLogon=N",
        "ResetOnDisconnect=N",
        "ResetOnLogout=N",
        "PersistMessages=Y",
        f"FileLogPath={directory / 'log'}",
    ]
    for ours, theirs in sessions:
        lines += ["[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={theirs}", f"TargetCompID={ours}"]
    config_path = directory / "acceptor.cfg"
    config_path.write_text("\n".join(lines) + "\n")
    settings = fix.SessionSettings(str(config_path))
    store_factory = fix.MemoryStoreFactory()
    log_factory = fix.FileLogFactory(settings)
    acceptor = fix.SocketAcceptor(broker, store_factory, settings, log_factory)
    # The C++ acceptor keeps plain pointers to these: they must live as long as it does, or it crashes on stop.
    acceptor.keep_alive = (broker, store_factory, settings, log_factory)
    acceptor.start()
    return acceptor


def serve_commands(broker: QuickFixBroker) -> None:
    """Run commands from stdin until it closes, then leave at once (never through QuickFIX's stop)."""
    for line in sys.stdin:
        command = json.loads(line)
        try:
            result = getattr(broker, "cmd_" + command["op"])(**command.get("args", {}))
            broker.emit({"event": "reply", "id": command["id"], "result": result})
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            broker.emit({"event": "reply", "id": command["id"], "error": repr(error)})
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--sessions", default="UNWIND:BROKER", help="ours:theirs CompID pairs, comma separated")
    args = parser.parse_args()
    broker = QuickFixBroker()
    sessions = [tuple(pair.split(":")) for pair in args.sessions.split(",")]
    acceptor = start_acceptor(broker, args.port, args.dir, sessions)  # type: ignore[arg-type]
    broker.emit({"event": "ready", "port": args.port, "pid": os.getpid()})
    serve_commands(broker)
    del acceptor


if __name__ == "__main__":
    main()
