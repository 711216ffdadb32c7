"""The command-line shell over the library. The single error boundary lives in main.py."""
