from pulse_tui.cli import main

raise SystemExit(main())
