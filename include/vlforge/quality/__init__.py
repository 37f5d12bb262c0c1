"""Quality: the frames that gates look at, domain-named Great Expectations checks, and the gates that run them."""
