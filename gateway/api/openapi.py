"""The OpenAPI 3.1 document of the HTTP part of the API, served at /v1/openapi.json and kept beside docs/api.md."""

from __future__ import annotations

from typing import Any

from gateway.model import ErrorCode, KillScope, OrderStatus, OrderType, Side, TimeInForce


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answers(ok: dict[str, Any], ok_description: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    return {
        "200": {"description": ok_description, "content": {"application/json": {"schema": ok}}},
        "400": {"description": "refused: validation or risk, see code", **error},
        "401": {"description": "missing or unknown API key", **error},
        "403": {"description": "the principal's role or accounts do not allow it", **error},
        "404": {"description": "no such order visible to this principal", **error},
        "503": {"description": "journal or venue unavailable", **error},
    }


PRICE = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "description": "decimal at the instrument's precision"}


def openapi_document() -> dict[str, Any]:
    order_id = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
    account_query = {"name": "account", "in": "query", "required": False, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Unwind gateway API", "version": "1",
                 "description": "Orders, queries and controls. The low-latency path is the WebSocket at /v1/stream, "
                                "documented in docs/api.md; every command there is also POST /v1/commands/{type}."},
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/health": {"get": {"summary": "Report liveness and venue connections", "security": [],
                                   "responses": {"200": {"description": "ok or degraded"}}}},
            "/v1/orders": {
                "post": {"summary": "Submit an order", "requestBody": _json_body(_ref("SubmitOrder")),
                         "responses": _answers(_ref("OrderAck"), "accepted by the gateway and sent")},
                "get": {"summary": "List orders visible to the principal",
                        "parameters": [account_query, {"name": "open", "in": "query", "schema": {"type": "boolean"}}],
                        "responses": _answers({"type": "object", "properties": {
                            "orders": {"type": "array", "items": _ref("Order")}}}, "orders")},
            },
            "/v1/orders/{order_id}": {
                "get": {"summary": "Get one order", "parameters": [order_id],
                        "responses": _answers({"type": "object", "properties": {"order": _ref("Order")}}, "the order")},
                "delete": {"summary": "Cancel an order", "parameters": [order_id],
                           "responses": _answers(_ref("OrderAck"), "cancel sent")},
                "patch": {"summary": "Amend quantity and/or price", "parameters": [order_id],
                          "requestBody": _json_body(_ref("AmendOrder")),
                          "responses": _answers(_ref("OrderAck"), "replace sent")},
            },
            "/v1/positions": {"get": {"summary": "List positions", "parameters": [account_query],
                                      "responses": _answers({"type": "object", "properties": {
                                          "positions": {"type": "array", "items": _ref("Position")}}}, "positions")}},
            "/v1/kill-switch": {"post": {"summary": "Engage or release the kill switch (role admin)",
                                         "requestBody": _json_body(_ref("KillSwitch")),
                                         "responses": _answers({"type": "object"}, "switched")}},
            "/v1/commands/{type}": {"post": {
                "summary": "Run any WebSocket command over HTTP (submit_parent, liquidate, review_approve, ...)",
                "parameters": [{"name": "type", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": _json_body({"type": "object"}),
                "responses": _answers({"type": "object"}, "the command's acknowledgement")}},
            "/v1/metrics": {"get": {"summary": "Latency and counts", "responses": _answers({"type": "object"}, "metrics")}},
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {
                "SubmitOrder": {
                    "type": "object",
                    "required": ["account", "symbol", "side", "quantity", "client_order_id"],
                    "properties": {
                        "account": {"type": "string"}, "symbol": {"type": "string"},
                        "side": {"enum": [s.value for s in Side]},
                        "order_type": {"enum": [t.value for t in OrderType], "default": "LIMIT"},
                        "time_in_force": {"enum": [t.value for t in TimeInForce], "default": "DAY"},
                        "quantity": {"type": "integer", "minimum": 1},
                        "price": PRICE, "stop_price": PRICE,
                        "expire_time": {"type": "integer", "description": "ns since epoch, GTD only"},
                        "client_order_id": {"type": "string", "maxLength": 64},
                    },
                },
                "AmendOrder": {"type": "object", "properties": {"quantity": {"type": "integer", "minimum": 1},
                                                                "price": PRICE}},
                "KillSwitch": {"type": "object", "required": ["scope", "engaged"], "properties": {
                    "scope": {"enum": [s.value for s in KillScope]}, "target": {"type": "string"},
                    "engaged": {"type": "boolean"}, "reason": {"type": "string"}}},
                "OrderAck": {"type": "object", "properties": {"type": {"const": "ack"}, "order_id": {"type": "string"},
                                                              "status": {"enum": [s.value for s in OrderStatus]}}},
                "Order": {"type": "object", "properties": {
                    "order_id": {"type": "string"}, "client_order_id": {"type": "string"},
                    "account": {"type": "string"}, "symbol": {"type": "string"}, "side": {"type": "string"},
                    "order_type": {"type": "string"}, "time_in_force": {"type": "string"},
                    "status": {"enum": [s.value for s in OrderStatus]}, "quantity": {"type": "integer"},
                    "filled_quantity": {"type": "integer"}, "leaves_quantity": {"type": "integer"},
                    "price": PRICE, "stop_price": PRICE, "average_price": PRICE, "venue": {"type": "string"},
                    "parent_id": {"type": ["string", "null"]}, "liquidation": {"type": "boolean"}}},
                "Position": {"type": "object", "properties": {
                    "account": {"type": "string"}, "symbol": {"type": "string"}, "quantity": {"type": "integer"},
                    "average_price": PRICE, "realized_pnl": {"type": "string"}}},
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "type": {"const": "error"}, "code": {"enum": [c.value for c in ErrorCode]},
                    "message": {"type": "string"}, "field": {"type": ["string", "null"]}}},
            },
        },
    }
