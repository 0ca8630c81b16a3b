"""Intermediate representation: the stages of a compiled network and the passes between them."""
