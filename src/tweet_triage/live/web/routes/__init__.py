"""The inbox's routes, one module per concern; `web.app.create_app` assembles them."""
