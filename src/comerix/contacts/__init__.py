"""Contacts: an end customer's profile (first and last seen, chats, goals reached) and its erasure."""
