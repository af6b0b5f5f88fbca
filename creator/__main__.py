from creator.cli import main

raise SystemExit(main())
