"""Data: the Feast store facade, the ledger, batch jobs and the background job runner."""
