"""Project sync: a project's files pushed into a GitHub repository as one commit, with conflict checks."""
