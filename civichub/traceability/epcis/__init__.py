"""The EPCIS 2.0 REST binding under /epcis/: capture (asynchronous jobs and single events) and
the common query cases. It translates between the standard and the module's services and
selectors; the rules live there."""
