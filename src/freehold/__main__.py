from freehold.cli import main

raise SystemExit(main())
