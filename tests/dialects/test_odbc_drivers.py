"""SQL Server through the drivers Linux users have: FreeTDS (Debian's tdsodbc) and Microsoft's
msodbcsql18.  No SQL Server runs here, so FreeTDS is checked against a listener that records
what arrives, and a missing driver against the real driver manager."""

from __future__ import annotations

import socket
import threading

import pytest

from pytest_cdc.dialects import get_dialect, parse_url
from pytest_cdc.errors import DatabaseUnavailable

pyodbc = pytest.importorskip("pyodbc")


def test_freetds_connects_to_the_host_and_port_of_the_url() -> None:
    # SERVER=host,port (Microsoft's syntax) is a host name to FreeTDS, which then never
    # reaches the port: the listener must see FreeTDS's TDS pre-login packet (type 0x12).
    if "FreeTDS" not in pyodbc.drivers():
        pytest.skip("needs the FreeTDS ODBC driver (Debian package tdsodbc)")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            received.append(conn.recv(1))

    thread = threading.Thread(target=accept)
    thread.start()
    url = parse_url(f"mssql://sa:Placeholder-1@127.0.0.1:{port}/erp?driver=FreeTDS")
    try:
        with pytest.raises(pyodbc.Error):
            get_dialect("mssql").connector(url).connect(timeout=3)
    finally:
        thread.join()
        listener.close()
    assert received == [b"\x12"]


@pytest.mark.parametrize("driver", [None, "No Such Driver 9"])
def test_a_missing_driver_is_named_with_the_installed_ones(driver: str | None) -> None:
    # The default is Microsoft's ODBC Driver 18, which is not installed here.
    if driver is None and "ODBC Driver 18 for SQL Server" in pyodbc.drivers():
        pytest.skip("Microsoft's driver is installed here")
    query = f"?driver={driver.replace(' ', '+')}" if driver else ""
    url = parse_url(f"mssql://sa:Placeholder-1@127.0.0.1:1/erp{query}")
    with pytest.raises(DatabaseUnavailable) as info:
        get_dialect("mssql").connector(url).connect(timeout=1)
    message = str(info.value)
    wanted = driver or "ODBC Driver 18 for SQL Server"
    assert message.startswith(f"the ODBC driver {wanted!r} is not installed (installed: ")
    assert "msodbcsql18" in message and "driver=FreeTDS" in message
    for installed in pyodbc.drivers():
        assert repr(installed) in message
    assert "Placeholder-1" not in message and "\n" not in message
