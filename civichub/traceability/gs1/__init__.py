"""GS1 identifiers, Digital Link URIs and EPCIS 2.0 documents: pure functions with no tables,
shared by the services, the EPCIS adapter and the resolver."""
