from tailtag.cli import main

raise SystemExit(main())
