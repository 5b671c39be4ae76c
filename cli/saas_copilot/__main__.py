from saas_copilot.cli import main

raise SystemExit(main())
