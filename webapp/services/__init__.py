"""Business rules: the only code that writes, shared by the API and the web views."""
