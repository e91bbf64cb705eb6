from amc.cli import main

main()
