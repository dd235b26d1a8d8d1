"""Emergency blood donors: the registry, requests and call-ups."""
