"""Adapters to outside systems: ticketing (Jira, ServiceNow) and provisioning (Kubernetes, webhook)."""
