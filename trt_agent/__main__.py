from trt_agent.cli import main

raise SystemExit(main())
