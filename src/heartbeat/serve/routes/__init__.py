"""The service's routes, one APIRouter per area (included by heartbeat.serve.app.create_app)."""
