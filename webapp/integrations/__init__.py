"""The only code that talks to outside services (GitHub, AWS), each behind a small interface built from config."""
