"""Fakes of the services Gantry talks to, served over real HTTP (GitHub) or moto (AWS)."""
