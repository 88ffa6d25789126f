"""Answering from the inbox: the reply outbox and X's length rule."""
