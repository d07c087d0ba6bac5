from tokenwire.server.cli import main

raise SystemExit(main())
