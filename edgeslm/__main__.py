from edgeslm.cli import main

main()
