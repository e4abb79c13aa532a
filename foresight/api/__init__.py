"""The HTTP API: app factory, middleware, auth dependencies and platform routes."""
