"""Food traceability: supply-chain events (GS1 EPCIS 2.0), QR codes (GS1 Digital Link), the
shopper's page, and recalls that reach every stall downstream."""
