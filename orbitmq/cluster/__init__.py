"""`orbitmq cluster start|stop|status DIR`: every process of a conf/ template folder.

template.py turns a folder of broker `.properties` files into a plan (pure);
processes.py starts, finds and stops detached processes through pid files;
control.py runs a plan (boot order, registration wait, rollback); cli.py is the CLI.
"""
