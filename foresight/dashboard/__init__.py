"""The Streamlit dashboard. It talks to the HTTP API only, never to the database."""
