from amc.cli import app

app(prog_name="amc")
