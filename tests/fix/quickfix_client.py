"""A QuickFIX initiator (data dictionary validation on) that sends one NewOrderSingle and prints what comes back.

    python quickfix_client.py --port N --sender QFCLIENT --target SIM --symbol ACME --side 1 --qty 100 --price 99.00

It prints one JSON line per message QuickFIX delivered to the application (so it passed validation) and one per
Reject QuickFIX sent back (so it did not); it exits after ``--reports`` execution reports or ``--timeout`` seconds.
Run in its own process: this QuickFIX build can crash in ``stop`` with a dictionary loaded, so it leaves by _exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import quickfix as fix


def parse(message: fix.Message) -> dict[str, str]:
    return dict(item.split("=", 1) for item in message.toString().split("\x01") if item)


class Client(fix.Application):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.reports = 0
        self.done = threading.Event()

    def emit(self, event: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def onCreate(self, session_id: fix.SessionID) -> None:
        pass

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.emit({"event": "logon"})
        order = fix.Message()
        order.getHeader().setField(fix.MsgType("D"))
        for tag, value in ((11, "QF-1"), (1, "QF-ACC"), (21, "1"), (55, self.args.symbol), (54, self.args.side),
                           (38, str(self.args.qty)), (40, "2"), (44, self.args.price), (59, "0")):
            order.setField(fix.StringField(tag, value))
        order.setField(fix.TransactTime())
        fix.Session.sendToTarget(order, session_id)

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.emit({"event": "logout"})

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        fields = parse(message)
        if fields["35"] == "3":
            self.emit({"event": "reject_sent", "fields": fields})

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        fields = parse(message)
        self.emit({"event": "app", "fields": fields})
        self.reports += 1
        if self.reports >= self.args.reports:
            self.done.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sender", default="QFCLIENT")
    parser.add_argument("--target", default="SIM")
    parser.add_argument("--symbol", default="ACME")
    parser.add_argument("--side", default="1")
    parser.add_argument("--qty", type=int, default=100)
    parser.add_argument("--price", default="99.00")
    parser.add_argument("--reports", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=20)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="qf-client-"))
    config = directory / "client.cfg"
    config.write_text("\n".join([
        "[DEFAULT]", "ConnectionType=initiator", "SocketConnectHost=127.0.0.1", f"SocketConnectPort={args.port}",
        "StartTime=00:00:00", "EndTime=00:00:00", "HeartBtInt=30", "ReconnectInterval=1", "UseDataDictionary=Y",
        f"DataDictionary={Path(sys.prefix) / 'share' / 'quickfix' / 'FIX44.xml'}", "ValidateFieldsOutOfOrder=Y",
        "ValidateFieldsHaveValues=Y", "ValidateUserDefinedFields=Y", "ResetOnLogon=Y",
        "[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={args.sender}", f"TargetCompID={args.target}", ""]))
    settings = fix.SessionSettings(str(config))
    application, store = Client(args), fix.MemoryStoreFactory()
    initiator = fix.SocketInitiator(application, store, settings)
    initiator.start()
    deadline = time.monotonic() + args.timeout
    application.done.wait(max(0.0, deadline - time.monotonic()))
    application.emit({"event": "done", "reports": application.reports})
    os._exit(0)


if __name__ == "__main__":
    main()
