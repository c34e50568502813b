"""Goals: what admins define over telemetry (a purchase, a sign-up, a reply), and their audit trail."""
