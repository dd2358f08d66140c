"""Django's PostgreSQL backend, failing fast while the server is unreachable (``ENGINE = "demo.postgresql"``)."""
