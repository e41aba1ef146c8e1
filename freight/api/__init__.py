"""The Docker Engine API (``freight system service``): a front end beside ``freight.cli``
that calls the same library, so that Docker's clients drive freight unchanged."""
