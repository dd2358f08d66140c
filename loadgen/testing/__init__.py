"""Test equipment that ships with loadgen: a server whose behaviour the request path chooses."""
