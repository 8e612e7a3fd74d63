from connectmail.cli import main

main()
