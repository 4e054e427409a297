"""The Responses API over conversations: request checks, context, the event core, the routes."""
