"""Stage: the talk's scenarios and teaching points."""
