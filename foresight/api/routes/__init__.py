"""Platform routes (health, models, admin); app routes live in each app's router.py."""
