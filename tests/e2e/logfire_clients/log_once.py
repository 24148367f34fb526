"""Sends one info log `token check {marker}` and exits; configured only through environment variables."""

import sys

import logfire

logfire.configure()
logfire.info("token check {marker}", marker=sys.argv[1])
