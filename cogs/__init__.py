"""Thin feature cogs: read options, call one service, render the reply. Each module is loaded at start-up."""
