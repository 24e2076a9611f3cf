"""Pictures and tables for people: `vida inspect`, `vida report`."""
