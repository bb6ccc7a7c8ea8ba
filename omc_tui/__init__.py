"""Oh My Coins desk: the keyboard-driven terminal trading UI."""
