from bbbcore.cli import main

raise SystemExit(main())
