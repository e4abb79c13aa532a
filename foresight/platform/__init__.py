"""The platform core every app stands on. It never imports an app."""
