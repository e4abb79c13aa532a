"""The OpenAPI document: who may call each operation, and every answer it can give.

Derived from the route table, so a new app's routes are described like the platform's:

- a route with a ``require`` dependency needs a key: its operation lists the API-key
  security schemes, 401, 403 and 429, and 503 (the database or every model is away);
- an operation with parameters or a body can answer 422; one with a body also 413;
- one with a path parameter can answer 404 (what the path names may not exist);
- anything else a route can answer it declares itself (``responses={409: ...}``).

Every error answer has the one ``ErrorResponse`` shape that ``api.errors`` builds; FastAPI's
own validation-error schemas, which those answers do not follow, are replaced.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from foresight.api.deps import SECURITY_SCHEMES, permission_of, route_table
from foresight.platform.auth import PERMISSIONS
from foresight.platform.schemas import ErrorResponse

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _fastapi_error(answer: dict[str, Any]) -> bool:
    """Whether a response is FastAPI's own validation error, which our 422s do not follow."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith(_FASTAPI_ERRORS)


def _roles_with(permission: str) -> str:
    return ", ".join(role for role, held in PERMISSIONS.items() if permission in held)


def _implied_errors(operation: dict[str, Any], permission: str | None) -> dict[str, Any]:
    """The error answers an operation can give by its shape alone."""
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    errors: dict[str, Any] = {}
    if any(p.get("in") == "path" for p in parameters):
        errors["404"] = _error("Not found: the path names nothing stored.")
    if body:
        errors["413"] = _error("The request body is larger than the limit.")
    if parameters or body:
        errors["422"] = _error("Invalid request: `errors` names each field and what to fix.")
    if permission is not None:
        errors["401"] = _error("No API key, or a wrong or revoked one.")
        errors["403"] = _error(f"The key's role may not {permission}.")
        errors["429"] = _error("The key's rate limit is exceeded.", RETRY_AFTER)
        errors["503"] = _error("The database or the model is unavailable; retry.", RETRY_AFTER)
    return errors


def _describe(operation: dict[str, Any], permission: str | None) -> None:
    """Add the error answers (in the one shared shape) and the key an operation needs."""
    responses = operation.setdefault("responses", {})
    for status, answer in _implied_errors(operation, permission).items():
        if status not in responses or _fastapi_error(responses[status]):
            responses[status] = answer
    for status, answer in responses.items():
        if status.isdigit() and int(status) >= 400 and not answer.get("content"):
            answer["content"] = {"application/json": {"schema": ERROR_REF}}
    operation["responses"] = dict(sorted(responses.items()))
    if permission is not None:
        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        operation["x-permission"] = permission
        needs = f"Needs a key whose role may {permission} ({_roles_with(permission)})."
        operation["description"] = f"{operation.get('description', '')}\n\n{needs}".strip()


def _add_error_schemas(schema: dict[str, Any]) -> None:
    """Register ``ErrorResponse`` and drop FastAPI's unused validation-error schemas."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error.pop("$defs", {}))
    components["ErrorResponse"] = error
    for name in _FASTAPI_ERRORS:  # every reference to them was replaced by ErrorResponse
        components.pop(name, None)


def _name_known_events(app: FastAPI, schema: dict[str, Any]) -> None:
    """A webhook subscribes to events the installed apps publish: list them as an enum
    (they are known only once the platform is, so no static model can say it)."""
    platform = getattr(app.state, "platform", None)
    webhook = schema["components"].get("schemas", {}).get("WebhookCreate")
    if platform is None or webhook is None:
        return
    events = ["*", *sorted(set(platform.known_events()))]
    webhook["properties"]["events"]["items"] = {"type": "string", "enum": events}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then cached on the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for route in route_table(app):
        path = schema["paths"].get(getattr(route, "path_format", None), {})
        permission = permission_of(route)
        for method in getattr(route, "methods", None) or ():
            operation = path.get(method.lower())
            if operation is not None:
                _describe(operation, permission)
    _add_error_schemas(schema)
    _name_known_events(app, schema)
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document at ``/openapi.json`` (and in ``/docs``)."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
