"""CRM connectors: the seam (`plugin`, `base`, `mapping`, `registry`) and one package per CRM."""
