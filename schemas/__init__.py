"""Models and enums shared by every part of liftoff."""
