"""Development PKI and certificate handling."""
